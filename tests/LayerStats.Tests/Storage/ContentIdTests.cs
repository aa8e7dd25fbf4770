using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Storage;

/// <summary>
/// files.content_id: one number per stored layer content, rising in load order, so the per-image analysis reads a
/// layer's rows from the row groups that hold them. Contents stored before it existed (NULL) are read by diff_id.
/// </summary>
public sealed class ContentIdTests
{
    private static readonly LayerBuilder Base = new LayerBuilder()
        .File("etc/os-release", "ID=test\n").File("usr/lib/libc.so", new string('c', 5000)).File("usr/bin/sh", new string('s', 3000));

    private static string Image(CliHarness cli, string name, LayerBuilder top)
    {
        var image = new ImageBuilder().Layer(Base, LayerCompression.Gzip, "base").Layer(top, LayerCompression.Gzip, name).Build();
        string path = Path.Combine(cli.Dir, name + ".tar");
        ArchiveWriter.OciArchive(path, OciEntry.Of(image, name + ":1"));
        return path;
    }

    private static LayerBuilder AppTop() => new LayerBuilder()
        .File("app/run", "run\n").File("usr/lib/libc.so", new string('C', 4000)).Whiteout("usr/bin/sh").File("app/copy.so", new string('c', 5000));

    private const string Figures =
        "SELECT hidden_bytes, hidden_files, dive_efficiency, dive_wasted_bytes, dive_size_bytes, dive_user_size_bytes FROM images ORDER BY image_id";

    [Fact]
    public void Every_content_gets_its_own_rising_id_carried_by_each_of_its_rows()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Image(cli, "one", new LayerBuilder().File("a", "1\n")), Image(cli, "two", new LayerBuilder().File("b", "2\n"))).Exit);

        var contents = cli.Query("SELECT diff_id, content_id FROM layer_contents ORDER BY content_id").Rows;
        Assert.Equal(3, contents.Count);
        Assert.Equal(new long?[] { 1, 2, 3 }, contents.Select(r => (long?)Convert.ToInt64(r[1])));
        Assert.Equal(0L, cli.Scalar(
            "SELECT count(*) FROM files f JOIN layer_contents c USING (diff_id) WHERE f.content_id IS DISTINCT FROM c.content_id"));

        // A later scan continues the numbering.
        string three = Image(cli, "three", new LayerBuilder().File("c", "3\n"));
        Assert.Equal(0, cli.Scan(three).Exit);
        Assert.Equal(4L, cli.Scalar("SELECT max(content_id) FROM layer_contents"));
        Assert.Equal(4L, cli.Scalar("SELECT count(DISTINCT content_id) FROM files"));
    }

    [Fact]
    public void An_image_on_a_base_stored_without_content_ids_gets_the_same_figures()
    {
        using var cli = new CliHarness();
        string plain = Image(cli, "plain", new LayerBuilder().File("x", "x\n"));
        string app = Image(cli, "app", AppTop());
        Assert.Equal(0, cli.Scan(plain).Exit);
        // As a database written before content_id: the base's rows and content carry none.
        Assert.Equal(0, cli.Run("query", "--write", "--db", cli.Database,
            "UPDATE files SET content_id = NULL; UPDATE layer_contents SET content_id = NULL").Exit);
        Assert.Equal(0, cli.Scan(app).Exit);

        using var fresh = new CliHarness();
        Assert.Equal(0, fresh.Scan(plain, app).Exit);
        Assert.Equal(Rows(fresh, Figures), Rows(cli, Figures));
        Assert.True(Convert.ToInt64(cli.Query("SELECT hidden_bytes FROM images ORDER BY hidden_bytes DESC").Rows[0][0]) > 0, "the app image hides base files");
    }

    [Fact]
    public void A_database_without_the_columns_gains_them_on_a_write_open()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Image(cli, "one", new LayerBuilder().File("a", "1\n"))).Exit);
        Assert.Equal(0, cli.Run("query", "--write", "--db", cli.Database,
            "ALTER TABLE files DROP COLUMN content_id; ALTER TABLE layer_contents DROP COLUMN content_id; " +
            "UPDATE schema_info SET value = 'older' WHERE key = 'ddl_fingerprint'").Exit);

        Assert.Equal(0, cli.Scan(Image(cli, "two", AppTop())).Exit);
        Assert.Equal(2L, cli.Scalar("SELECT count(*) FROM layer_contents WHERE content_id IS NULL")); // 'one': base and top
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM layer_contents WHERE content_id IS NOT NULL")); // 'two': its top
        Assert.Equal(2L, cli.Scalar("SELECT count(*) FROM images"));
    }

    private static List<string> Rows(CliHarness cli, string sql) =>
        cli.Query(sql).Rows.Select(r => string.Join("|", r.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)))).ToList();
}
