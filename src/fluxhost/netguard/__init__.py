"""Outbound HTTP to addresses a client chose (webhook targets, image URLs), guarded against
server-side request forgery: names are resolved once, every address they resolve to is checked,
and the connection is pinned to a checked one (`guard`); each request ends by one deadline
however slowly the other side trickles, and never goes through a proxy (`transport`)."""
