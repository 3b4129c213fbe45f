"""The node agent, shipped to every node in the ConfigMap and run as `python3 -m agent` (README: "Security model")."""
