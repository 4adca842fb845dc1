"""Compute and serverless: EC2 instances, Lambda functions, Systems Manager."""
