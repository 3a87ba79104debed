"""DrCaptcha's shared library, shipped to every function as a Lambda layer."""
