-- "Has he bought this?" for any fan and any vault item, in the analysts' file. marts.fan_asset_status
-- holds only the items sent to a fan; every other (fan, item) pair is `never_sent`. `{marts}` is
-- the prefix under which the analysts' file keeps its tables ('' or 'marts.'), so the macros
-- resolve the tables the way analysts write them.
--
--   SELECT marts.asset_status('acct_8f2k', 48213377, 7012);          -- one item: 'bought', ...
--   SELECT * FROM marts.fan_vault_status('acct_8f2k', 48213377);     -- his whole vault
CREATE OR REPLACE MACRO {schema}asset_status(creator, fan, media) AS coalesce(
    (SELECT s.status FROM {marts}fan_asset_status AS s
     WHERE s.creator_id = creator AND s.fan_id = fan AND s.media_id = media),
    'never_sent');

CREATE OR REPLACE MACRO {schema}fan_vault_status(creator, fan) AS TABLE
    SELECT v.creator_id, fan AS fan_id, v.media_id, v.media_type,
           coalesce(s.status, 'never_sent') AS status, s.last_sent_at, s.last_offered_at,
           s.bought_at, s.bought_price_cents
    FROM {marts}vault_media AS v
    LEFT JOIN {marts}fan_asset_status AS s
        ON s.creator_id = v.creator_id AND s.media_id = v.media_id AND s.fan_id = fan
    WHERE v.creator_id = creator
    ORDER BY v.media_id;
