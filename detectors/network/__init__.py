"""Network: security groups, network ACLs, gateways, route tables, VPCs and the regions used."""
