"""Past one machine: vehicles and a cloud joined by zenoh routers, tested across network namespaces."""
