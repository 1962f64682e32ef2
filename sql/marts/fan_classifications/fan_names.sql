-- Each fan's display name and username as the API last gave them (staging.fans, else the chat
-- list): the redactor replaces them in his chat before any text leaves the machine.
SELECT
    coalesce(f.fan_id, c.fan_id)        AS fan_id,
    coalesce(f.name, c.name)            AS fan_name,
    coalesce(f.username, c.username)    AS fan_username
FROM staging.fans f
FULL JOIN staging.chats c ON c.fan_id = f.fan_id
