"""The cache doctor (issue #65): prompt caching measured per route, key and session from
the journal — hit rate, writes that cost more than their reads saved, misses where the
cache should have been warm with the dollars they lost and their cause (a volatile
prefix named with the text that changed, another deployment, no breakpoint), and the
cache lifetime the observed reuse argues for. A unit (``gateway.web.units``): its page
(``pages.py``), its ``/api/cache-doctor`` (``api.py``); it runs nothing on the request
path."""
