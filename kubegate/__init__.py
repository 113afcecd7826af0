"""kubegate: the Amazon EKS access model for any Kubernetes cluster."""
