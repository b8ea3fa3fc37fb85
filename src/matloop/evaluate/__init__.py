"""matloop.evaluate"""
