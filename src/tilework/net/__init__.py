"""Outbound HTTP to addresses users name: input URLs, webhook targets, provider outputs.

``addresses`` says which IP addresses are off limits, ``policy`` applies that (and the
allow-list) to URLs and resolved names, ``transport`` pins each connection to an address it
checked, and ``download`` streams a body to a file within byte and time caps.
"""
