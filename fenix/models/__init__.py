"""Pydantic models shared by workflows, activities and the API.

Every workflow, activity, update and query takes one of these models and returns one, so fields with
defaults can be added without breaking running histories.
"""
