"""Tenancy at the broker: accounts and ACLs generated from the registry (``smartpark broker``)."""
