"""matloop.models"""
