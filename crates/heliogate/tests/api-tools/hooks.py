"""Schemathesis hooks for the run against heliogate's administration API.

The run acts with one admin client's token. Schemathesis learns identifiers from responses
(the client list names that client), so left alone it would rotate that client's secret,
revoke its token or delete it, and every later request would only see 401. A request that
names the acting client (HELIOGATE_PROTECTED_CLIENT) is sent for an unknown client instead.
"""

import os

import schemathesis

PROTECTED = os.environ.get("HELIOGATE_PROTECTED_CLIENT", "")


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters or {}
    if PROTECTED and params.get("id") == PROTECTED:
        params["id"] = "not-the-acting-client"
