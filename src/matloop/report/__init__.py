"""matloop.report"""
