-- The device cookie (its hash) of the browser each refresh token went to: a retry inside the
-- grace window gets the same successor only from that browser, not from anyone who shares
-- its user agent and address. Null for clients without a device cookie.
alter table refresh_tokens add column device_hash text;
