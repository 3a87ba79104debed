"""pynamodb tables: what each DynamoDB table holds. Only drcaptcha.store reads and writes them."""
