-- PostgreSQL's 0004 makes listener changes send NOTIFY to the other nodes of a cluster. An embedded
-- SQLite catalog serves one node, which reconciles its own changes at once: nothing to add. The version
-- exists so that both dialects carry the same migration numbers.
SELECT 1;
