using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// The fixed costs of a scan (issue 5: an unchanged rescan): what the open, the listing and the plan were changed to use
/// instead of generic code over structs still says what it said before, and the open reports its own steps.
/// </summary>
public sealed class StartupPathTests
{
    private static readonly string[] DiffIds =
    [
        "sha256:" + new string('a', 64),
        "sha256:" + new string('b', 64),
        "sha256:" + new string('a', 64), // the same layer twice in one image is legal
    ];

    [Fact]
    public void A_configs_diff_ids_are_listed_in_order_by_count_index_and_enumeration()
    {
        var config = ManifestParser.ParseConfig(ConfigWith($"\"{DiffIds[0]}\", \"{DiffIds[1]}\", \"{DiffIds[2]}\""), "config");

        Assert.Equal(3, config.DiffIds.Count);
        for (int i = 0; i < DiffIds.Length; i++)
        {
            Assert.Equal(DiffIds[i], config.DiffIds[i].ToString());
        }

        Assert.Equal(DiffIds, config.DiffIds.Select(d => d.ToString()));
        Assert.Equal(DiffIds, ((System.Collections.IEnumerable)config.DiffIds).Cast<Digest>().Select(d => d.ToString()));
        Assert.Equal(["RUN a", "RUN b", "RUN c"], config.LayerCreatedBy());
    }

    [Fact]
    public void A_config_without_diff_ids_has_an_empty_list_and_a_bad_one_is_named_by_its_index()
    {
        Assert.Empty(ManifestParser.ParseConfig(ConfigWith(""), "config").DiffIds);

        var ex = Assert.Throws<ImageFormatException>(() => ManifestParser.ParseConfig(ConfigWith($"\"{DiffIds[0]}\", \"sha256:nothex\""), "config c"));
        Assert.Equal("config c: rootfs.diff_ids[1] is not a digest", ex.Message);
    }

    [Fact]
    public void A_write_open_reports_its_steps_in_order_and_a_read_only_open_none()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        string[] steps = ["load DuckDB, open the file", "settings", "schema check", "incomplete loads"];
        for (int open = 0; open < 2; open++) // a new file (the DDL runs), then the same file set up (it does not)
        {
            using var db = LayerStatsDatabase.Open(path);
            Assert.Equal(steps, db.OpenPhases.Select(p => p.Name));
            Assert.All(db.OpenPhases, p => Assert.True(p.Time >= TimeSpan.Zero));
        }

        using var readOnly = LayerStatsDatabase.OpenReadOnly(path);
        Assert.Empty(readOnly.OpenPhases);
    }

    [Fact]
    public void The_store_remembers_a_looked_up_content_as_stored_with_its_hashing_or_as_absent()
    {
        // FindStored fills the store's memory of layer_contents for the commits that follow; FindContent
        // asks the database. Both must agree for a stored content, one stored with SHA-256 too, and an absent one.
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        using var store = new DuckDbScanStore(db);
        string plain = "sha256:" + new string('1', 64), both = "sha256:" + new string('2', 64), absent = "sha256:" + new string('3', 64);
        Execute(db, $"INSERT INTO layer_contents (diff_id, uncompressed_size, entries, file_hashing, run_id, content_id) VALUES ('{plain}', 1, 0, 'xxh128', 1, 1), ('{both}', 1, 0, 'xxh128+sha256', 1, 2)");

        var found = store.FindStored([], [plain, both, absent]);

        Assert.Equal(FileHashing.Xxh128, found.Contents[plain].Hashing);
        Assert.Equal(FileHashing.Xxh128AndSha256, found.Contents[both].Hashing);
        Assert.False(found.Contents.ContainsKey(absent));
        Assert.Equal(FileHashing.Xxh128, store.FindContent(Digest.Parse(plain)));
        Assert.Equal(FileHashing.Xxh128AndSha256, store.FindContent(Digest.Parse(both)));
        Assert.Null(store.FindContent(Digest.Parse(absent)));
    }

    private static byte[] ConfigWith(string diffIds) => System.Text.Encoding.UTF8.GetBytes(
        $$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[{{diffIds}}]},"history":[{"created_by":"RUN a"},{"created_by":"RUN b"},{"created_by":"RUN c"}]}""");

    private static void Execute(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
