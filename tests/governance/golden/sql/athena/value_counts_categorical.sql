SELECT x, COUNT(*) AS n FROM (SELECT CAST("segment name" AS VARCHAR) AS x FROM ref WHERE NOT "segment name" IS NULL) AS v GROUP BY x
