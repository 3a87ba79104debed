"""One module per group of `drcaptcha` commands."""
