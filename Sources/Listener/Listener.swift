// Listener module
