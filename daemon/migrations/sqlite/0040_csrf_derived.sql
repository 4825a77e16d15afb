-- CSRF tokens are no longer stored: each is an HMAC keyed with its cookie's secret, recomputed
-- from the cookie of each request. The columns held them in plaintext; they go, and with them
-- every token issued so far (a form rendered before the upgrade is refused once).
-- Keep in step with ../postgres/0040_csrf_derived.sql.
ALTER TABLE sessions DROP COLUMN csrf_token;
ALTER TABLE sign_in_challenges DROP COLUMN csrf_token;
