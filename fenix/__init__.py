"""Fenix: durable rolling maintenance of cloud infrastructure, on Temporal."""
