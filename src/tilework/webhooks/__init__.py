"""Webhooks out (Standard Webhooks signatures, durable deliveries) and in (verifying them)."""
