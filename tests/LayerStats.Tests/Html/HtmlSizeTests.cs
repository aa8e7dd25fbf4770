using System.Text.Json;
using LayerStats.Storage;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Html;

/// <summary>
/// A fleet-sized database (2,000 images over 5 bases, 10,015 layers, about a million files), written with SQL
/// straight into the tables: the page stays a few MB, caps its tables with a note, and still renders.
/// </summary>
public sealed class HtmlSizeTests
{
    private const int Images = 2000;
    private const int FilesPerLayer = 100;

    [Fact]
    public void Two_thousand_images_and_a_million_files_make_a_page_of_a_few_megabytes_that_says_what_it_left_out()
    {
        using var cli = new CliHarness();
        Fill(cli.Database);
        Assert.Equal(Images, cli.Scalar("SELECT count(*) FROM images"));
        Assert.Equal(10_015L * FilesPerLayer, cli.Scalar("SELECT count(*) FROM files"));

        string page = HtmlPage.Write(cli);
        long size = new FileInfo(page).Length;
        Assert.True(size < 5_000_000, $"the page is {size:N0} bytes");

        string html = File.ReadAllText(page);
        using var data = JsonDocument.Parse(HtmlPage.DataText(html));
        Assert.Equal(1000, HtmlPage.Rows(data, "images").Count);
        Assert.Equal(Images, HtmlPage.Section(data, "images").GetProperty("total").GetInt32());
        Assert.Equal(1000, HtmlPage.Rows(data, "layers").Count);
        Assert.Equal(10_015, HtmlPage.Section(data, "layers").GetProperty("total").GetInt32());
        Assert.Equal(5, HtmlPage.Rows(data, "shared-bases").Count);
        Assert.Equal(cli.Scalar("SELECT count(*) FROM duplicate_files"), HtmlPage.Section(data, "duplicates").GetProperty("total").GetInt64());
        Assert.Equal(8 * 1000, HtmlPage.Rows(data, "image-layers").Count);

        var (dom, requests) = Chromium.DumpDom(page, cli.Dir);
        Assert.Empty(requests);
        Assert.Contains("showing 1,000 of 2,000 images", dom, StringComparison.Ordinal);
        Assert.Contains("showing 1,000 of 10,015 layers", dom, StringComparison.Ordinal);
        // Paginated: 25 image rows on the first page, with the pager to go on.
        Assert.Equal(25, HtmlPage.Count(HtmlPage.Between(dom, "table-images", "drill"), "<tr class=\"clickable"));
        Assert.Contains("1–25 of 1,000", dom, StringComparison.Ordinal);
        Assert.Contains($"data-value=\"{Images}\"", HtmlPage.Between(dom, "card-images", "card-layers"), StringComparison.Ordinal);
    }

    /// <summary>
    /// Image i has base i % 5 (3 layers, shared) and 5 layers of its own; each layer holds 100 files whose contents
    /// repeat across layers (30,000 distinct contents), so there are many duplicates.
    /// </summary>
    private static void Fill(string path)
    {
        using var db = LayerStatsDatabase.Open(path);
        string[] statements =
        [
            "INSERT INTO scan_runs VALUES (1, TIMESTAMPTZ '2024-05-01 02:00:00+00', TIMESTAMPTZ '2024-05-01 02:40:00+00', 'ok', 'test', 'xxh128', 2000, 2000, 0, 10015, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            // Layers 0..14 are the bases' (base b has layers 3b..3b+2); 15.. are the images' own.
            $"""
            INSERT INTO layers
            SELECT printf('sha256:%064x', n), 20000 + (n * 7919) % 900000, 'application/vnd.oci.image.layer.v1.tar+gzip', 'gzip',
                   printf('sha256:%064x', n), 2 * (20000 + (n * 7919) % 900000), false, 1
            FROM range(15 + 5 * {Images}) t(n)
            """,
            $"INSERT INTO layer_contents SELECT diff_id, uncompressed_size, {FilesPerLayer}, 'xxh128', 1, NULL FROM layers",
            $"""
            INSERT INTO files
            SELECT printf('sha256:%064x', l), f,
                   'usr/lib/pkg' || (f % 40) || '/module' || ((l * 100 + f) % 30000) || CASE f % 3 WHEN 0 THEN '.so.1' WHEN 1 THEN '.py' ELSE '' END,
                   'file', 1000 + ((l * 100 + f) % 30000) * 37 % 5000, 420, 0, 0, NULL, NULL, CAST((l * 100 + f) % 30000 AS UHUGEINT), NULL, NULL
            FROM range(15 + 5 * {Images}) a(l), range({FilesPerLayer}) b(f)
            """,
            $"""
            INSERT INTO image_layers
            SELECT printf('sha256:%064x', 1000000 + i), p,
                   printf('sha256:%064x', CASE WHEN p < 3 THEN 3 * (i % 5) + p ELSE 15 + 5 * i + (p - 3) END),
                   printf('sha256:%064x', CASE WHEN p < 3 THEN 3 * (i % 5) + p ELSE 15 + 5 * i + (p - 3) END),
                   CASE WHEN p < 3 THEN 'ADD rootfs-' || (i % 5) || '.tar /' ELSE 'RUN /bin/sh -c make build-' || i || ' && make install PREFIX=/opt/app-' || i || ' # step ' || p END
            FROM range({Images}) a(i), range(8) b(p)
            """,
            $"""
            INSERT INTO images
            SELECT printf('sha256:%064x', 1000000 + i), printf('sha256:%064x', 1000000 + i), 'application/vnd.oci.image.manifest.v1+json',
                   printf('sha256:%064x', 2000000 + i), 'linux', CASE WHEN i % 4 = 0 THEN 'arm64' ELSE 'amd64' END, NULL,
                   TIMESTAMPTZ '2024-04-01 00:00:00+00', 8,
                   (SELECT sum(l.size) FROM image_layers il JOIN layers l ON l.digest = il.digest WHERE il.image_id = printf('sha256:%064x', 1000000 + i)),
                   (SELECT sum(l.uncompressed_size) FROM image_layers il JOIN layers l ON l.digest = il.digest WHERE il.image_id = printf('sha256:%064x', 1000000 + i)),
                   (i * 131) % 100000, i % 20, 0.9, 1000, 0.01, 100, 50, 1, 1
            FROM range({Images}) t(i)
            """,
            $"""
            INSERT INTO image_refs
            SELECT printf('sha256:%064x', 1000000 + i), 'registry.example/team' || (i % 40), 'team' || (i % 40) || '/service-' || i, 'v' || (i % 7), NULL, 1, 1
            FROM range({Images}) t(i)
            """,
        ];
        foreach (string sql in statements)
        {
            using var cmd = db.Connection.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
    }
}
