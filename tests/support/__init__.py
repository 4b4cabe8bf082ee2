"""What every test layer shares: SPEC literals and vectors, object builders, one poll helper.

One place for each, so a test states the contract with the SPEC's own words and values, never
with a constant imported from the code under test.
"""
