"""The embedded demo: a simulated cloud, sample VNFMs, and a runner for the whole stack."""
