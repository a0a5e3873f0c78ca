"""Deployment strategies: plain Python over the load balancer, engine and probe resources."""
