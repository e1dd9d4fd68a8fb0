"""How clients reach the embedded cluster: the listener, TLS certificates and kubeconfig files."""
