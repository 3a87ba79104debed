"""The training job: data (S3 shards + crowd labels), networks, training, export, report, ensemble proposal.

`python -m drcaptcha_train --network NAME` runs it; `drcaptcha train` runs the same job in-process or on Batch.
"""
