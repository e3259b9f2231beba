"""The offline Fashion-MNIST-LT demo (``make demo``); see ``run_demo.py``."""
