"""Ready-made networks built from :mod:`micrograd_plus.nn`: an MNIST classifier and a GPT."""
