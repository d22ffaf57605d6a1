"""Create many Mailman 3 lists in one process (each `mailman create` costs
1-3 s of start-up). Same calls as `mailman create`: register the domain if
needed, then create_list(), which also regenerates Mailman's Postfix maps.
Usage (as the list user): python3 mailman-seed.py MAILMAN_CFG LIST@DOMAIN...
"""
import sys

from mailman.core.initialize import initialize

initialize(sys.argv[1])

from zope.component import getUtility  # noqa: E402
from mailman.app.lifecycle import create_list  # noqa: E402
from mailman.database.transaction import transaction  # noqa: E402
from mailman.interfaces.domain import IDomainManager  # noqa: E402

for fqdn in sys.argv[2:]:
    domain = fqdn.partition('@')[2]
    with transaction():
        domains = getUtility(IDomainManager)
        if domains.get(domain) is None:
            domains.add(domain)
        create_list(fqdn)
    print('Created mailing list: ' + fqdn)
