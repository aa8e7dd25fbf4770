using DuckDB.NET.Data;
using LayerStats.Core.Images;

namespace LayerStats.Storage;

/// <summary>
/// Schema version 1 → 2: <c>image_refs.repository</c> rewritten to the canonical form (<see cref="RepositoryNames"/>) that
/// version 2 stores, so that rows an older layerstats wrote ('web') group with new ones ('docker.io/library/web').
/// Runs inside the transaction that sets the new version.
/// </summary>
internal static class RepositoryNameUpgrade
{
    /// <summary>Rewrites the names; returns the number of image_refs rows whose repository changed.</summary>
    /// <remarks>
    /// The key (image_id, source, repository, tag) holds the repository, so a rewritten row can meet a row already
    /// under the canonical name (one OCI layout naming an image both 'web:1' and 'docker.io/library/web:1'), or another
    /// rewritten one ('index.docker.io/library/web:1' and 'web:1'). Such rows become one: the earliest first_run_id, the
    /// latest last_run_id, and the index_digest of the latest row that has one (what a rescan's upsert would keep).
    /// Cost: only rows under a renamed or a meeting name are rewritten; 62,500 of 112,500 rows took 4.5–6.5 s (wall, machine under load),
    /// most of it the DELETE (the primary key's index); a file of a few thousand refs takes milliseconds. Once per file.
    /// </remarks>
    public static int Apply(DuckDBConnection connection)
    {
        var renames = new List<(string Written, string Canonical)>();
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT DISTINCT repository FROM image_refs WHERE repository <> ''";
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                string written = reader.GetString(0);
                string canonical = RepositoryNames.Normalize(written);
                if (canonical != written)
                {
                    renames.Add((written, canonical));
                }
            }
        }

        if (renames.Count == 0)
        {
            return 0;
        }

        LayerStatsDatabase.Execute(connection, "CREATE OR REPLACE TEMP TABLE repository_renames (written VARCHAR PRIMARY KEY, canonical VARCHAR NOT NULL)");
        // Many rows a statement: a registry's catalog can hold thousands of repositories.
        foreach (var chunk in renames.Chunk(500))
        {
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "INSERT INTO repository_renames VALUES " + string.Join(", ", Enumerable.Repeat("(?, ?)", chunk.Length));
            foreach (var (written, canonical) in chunk)
            {
                cmd.Parameters.Add(new DuckDBParameter(written));
                cmd.Parameters.Add(new DuckDBParameter(canonical));
            }

            cmd.ExecuteNonQuery();
        }

        int changed;
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT count(*) FROM image_refs WHERE repository IN (SELECT written FROM repository_renames)";
            changed = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        // Every row that is renamed or could be met by a renamed one, merged per new key; then put back.
        LayerStatsDatabase.Execute(connection, """
            CREATE OR REPLACE TEMP TABLE image_refs_merged AS
            SELECT r.image_id, r.source, coalesce(n.canonical, r.repository) AS repository, r.tag,
                   arg_max(r.index_digest, r.last_run_id) FILTER (WHERE r.index_digest IS NOT NULL) AS index_digest,
                   min(r.first_run_id) AS first_run_id, max(r.last_run_id) AS last_run_id
            FROM image_refs r
            LEFT JOIN repository_renames n ON n.written = r.repository
            WHERE r.repository IN (SELECT written FROM repository_renames) OR r.repository IN (SELECT canonical FROM repository_renames)
            GROUP BY r.image_id, r.source, coalesce(n.canonical, r.repository), r.tag
            """);
        LayerStatsDatabase.Execute(connection, """
            DELETE FROM image_refs
            WHERE repository IN (SELECT written FROM repository_renames) OR repository IN (SELECT canonical FROM repository_renames)
            """);
        LayerStatsDatabase.Execute(connection, """
            INSERT INTO image_refs
            SELECT image_id, source, repository, tag, index_digest, first_run_id, last_run_id FROM image_refs_merged
            """);
        LayerStatsDatabase.Execute(connection, "DROP TABLE image_refs_merged");
        LayerStatsDatabase.Execute(connection, "DROP TABLE repository_renames");
        return changed;
    }
}
