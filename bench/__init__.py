"""`make bench`: what this product costs (cold start, request overhead, stream throughput, deploy, size).

Every figure is a ratio to a baseline measured in the same run, because the machines are shared and noisy.
"""
