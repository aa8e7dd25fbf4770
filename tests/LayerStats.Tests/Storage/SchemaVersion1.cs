using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>Turns a file this build created into the layout schema version 1 had, for the upgrade tests.</summary>
internal static class SchemaVersion1
{
    /// <summary>
    /// Version 1: content_stats one table (no delta, no replaces column), names as the sources wrote them (the caller
    /// writes those), schema_version 1 and another build's DDL fingerprint.
    /// </summary>
    public static void Apply(LayerStatsDatabase db)
    {
        foreach (string sql in (string[])[
                     "DROP VIEW content_stats",
                     "DROP TABLE content_stats_delta",
                     "ALTER TABLE content_stats_base DROP COLUMN replaces",
                     "ALTER TABLE content_stats_base RENAME TO content_stats",
                     "UPDATE schema_info SET value = '1' WHERE key = 'schema_version'",
                     "UPDATE schema_info SET value = 'version 1' WHERE key = 'ddl_fingerprint'"])
        {
            using var cmd = db.Connection.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
    }
}
