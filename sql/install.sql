-- Applied in one transaction at every start, after the migrations.
{{ template "partitions.sql" . }}
{{ template "ingest.sql" . }}
{{ template "sessions.sql" . }}
{{ template "profiles.sql" . }}
{{ template "timescale.sql" . }}
{{ template "profile_queries.sql" . }}
{{ template "overview.sql" . }}
