"""matloop.represent"""
