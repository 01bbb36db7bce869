-- The back-office API pages alerts by (opened_at, id): the view needs the alert's id, the key
-- that orders (and tells apart) alerts opened in the same transaction, hence at the same
-- time. `create or replace view` may only add columns at the end of the select list.
create or replace view back_office.merchant_alerts as
select a.merchant_id, a.kind, case when a.resolved_at is null then 'open' else 'resolved' end as status,
       a.opened_at, a.resolved_at, a.detail,
       (select max(n.delivered_at) from alert_notifications n where n.alert_id = a.id) as last_notified_at,
       a.id
from alerts a;
