SELECT COUNT(*) AS c0, COUNT(`amount`) AS c1, MIN(CAST(`amount` AS DOUBLE)) AS c2, MAX(CAST(`amount` AS DOUBLE)) AS c3, COUNT(`segment name`) AS c4, NULL AS c5, NULL AS c6 FROM ref
