"""Custom Rasa input channels: the clinic web page's socket.io channel, and SMS."""
