"""matloop.design"""
