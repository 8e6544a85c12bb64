-- The floor for one bulk role change on SQLite: the same rows Latchkey writes when the owner of :SLUG makes every
-- other member an Admin in one recorded request (the batch and its per-member results, the role, one audit event
-- and one notice each), by hand in sqlite3 in one transaction.
BEGIN;
CREATE TEMP TABLE targets AS
  SELECT m.id, m.name, m.email, row_number() OVER (ORDER BY m.id) AS position
  FROM members m JOIN organizations o ON o.id = m.organization_id
  WHERE o.slug = ':SLUG' AND m.email <> 'owner@:SLUG.bench';
CREATE INDEX targets_id ON targets (id);
CREATE TEMP TABLE ctx AS
  SELECT lower(hex(randomblob(16))) AS batch_id, o.id AS org_id, lower(o.id) AS chain,
    (SELECT id FROM members WHERE email = 'owner@:SLUG.bench') AS owner_id,
    (SELECT id FROM roles r WHERE r.organization_id = o.id AND r.name = 'Admin') AS role_id,
    (SELECT COALESCE(MAX(seq), 0) FROM audit_events a WHERE a.organization_id = o.id) AS head,
    CAST(strftime('%s', 'now') AS REAL) AS now
  FROM organizations o WHERE o.slug = ':SLUG';
INSERT INTO reset_batches (id, organization_id, actor_id, idempotency_key, request_hash, status, total, processed,
    reset_count, skipped_count, failed_count, reason, background, request_id, ip, user_agent, created_at, action, detail)
  SELECT batch_id, org_id, owner_id, NULL, 'floor', 'running', (SELECT COUNT(*) FROM targets), 0, 0, 0, 0, 'bench', 0,
    'floor', '127.0.0.1', 'floor', now, 'member.role_changed', 'Admin' FROM ctx;
INSERT INTO reset_results (id, batch_id, position, member_id, status, reason, member_name, member_email, code)
  SELECT lower(hex(randomblob(16))), ctx.batch_id, t.position, t.id, 'pending', '', '', '', '' FROM targets t, ctx;
UPDATE members SET role_id = (SELECT role_id FROM ctx) WHERE id IN (SELECT id FROM targets);
INSERT INTO audit_events (id, chain, seq, organization_id, occurred_at, actor_id, actor_email, actor_role, action,
    target_id, target_email, result, reason, batch_id, request_id, ip, user_agent, ticket, prev_hash, hash)
  SELECT lower(hex(randomblob(16))), ctx.chain, ctx.head + t.position, ctx.org_id, ctx.now, ctx.owner_id,
    'owner@:SLUG.bench', 'Owner', 'member.role_changed', t.id, t.email, 'success', 'role: Member → Admin',
    ctx.batch_id, 'floor', '127.0.0.1', 'floor', 'bench', lower(hex(randomblob(32))), lower(hex(randomblob(32)))
  FROM targets t, ctx;
INSERT INTO mail_outbox (id, organization_id, to_email, subject, body, created_at, sent_at, attempts, next_attempt_at,
    give_up_at)
  SELECT lower(hex(randomblob(16))), ctx.org_id, t.email, 'Your role in Bench changed',
    'Hello ' || t.name || ', Bench Owner (owner@:SLUG.bench), Owner of Bench, changed your role in Bench from Member to Admin. Reason or ticket given: bench. This happened today. If you did not expect it, contact your administrator.',
    ctx.now, NULL, 0, ctx.now, ctx.now + 86400
  FROM targets t, ctx;
UPDATE reset_results SET status = 'changed', code = 'role_changed',
    member_name = (SELECT name FROM targets WHERE targets.id = reset_results.member_id),
    member_email = (SELECT email FROM targets WHERE targets.id = reset_results.member_id)
  WHERE batch_id = (SELECT batch_id FROM ctx);
UPDATE audit_chain_heads SET seq = (SELECT head FROM ctx) + (SELECT COUNT(*) FROM targets), hash = 'floor'
  WHERE chain = (SELECT chain FROM ctx);
UPDATE reset_batches SET status = 'completed', processed = total, reset_count = total
  WHERE id = (SELECT batch_id FROM ctx);
COMMIT;
