#!/usr/bin/env python3
"""Prints, as JSON, the listener value rules openapi.yaml declares, for comparison with
Sources/Domain/ListenerValidation.swift."""
import json
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
with open(os.path.join(ROOT, "openapi.yaml"), encoding="utf-8") as f:
    schemas = yaml.safe_load(f)["components"]["schemas"]

facts = {name: schemas[name]["pattern"] for name in [
    "ListenerName", "AETitle", "IPAddress", "CIDR", "Bucket", "Region", "Endpoint", "KeyPrefix", "FilePath",
    "KeyTemplate", "StorageClass", "KMSKeyId", "SOPClassUID"]}
facts["Port"] = [schemas["Port"]["minimum"], schemas["Port"]["maximum"]]
facts["MaxAssociations"] = [schemas["MaxAssociations"]["minimum"], schemas["MaxAssociations"]["maximum"]]
facts["TimeoutSeconds"] = [schemas["TimeoutSeconds"]["minimum"], schemas["TimeoutSeconds"]["maximum"]]
facts["CStoreDelayMs"] = [schemas["CStoreDelayMs"]["minimum"], schemas["CStoreDelayMs"]["maximum"]]
facts["GzipLevel"] = [schemas["GzipLevel"]["minimum"], schemas["GzipLevel"]["maximum"]]
pdu = schemas["MaxPDUSize"]["anyOf"][1]
facts["MaxPDUSize"] = [pdu["minimum"], pdu["maximum"]]
facts["maxItems"] = [schemas["AETitleList"]["maxItems"], schemas["CIDRList"]["maxItems"], schemas["SOPClassUIDList"]["maxItems"]]
facts["maxLength"] = {n: schemas[n]["maxLength"] for n in ["FilePath", "KeyPrefix", "KeyTemplate", "KMSKeyId", "SOPClassUID"]}
print(json.dumps(facts))
