using System.Text.Json;
using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Html;

/// <summary>
/// The report in a real browser (Debian's chromium, headless): it renders the figures and tables, shows hostile names
/// from images as text without running them, and starts no network request. Fails, never skips, without chromium.
/// </summary>
public sealed class HtmlBrowserTests
{
    private const string ImgName = "<img src=x onerror=document.title='pwned'>";
    private const string ScriptName = "</script><script>document.title='pwned'</script>";
    private const string HostileCommand = "<script>document.title='pwned'</script> RUN make <img src=x onerror=document.title='pwned'>";
    private const string HostileRef = "evil/<b>bold</b>:<b>tag";

    [Fact]
    public void The_samples_render_with_their_figures_charts_and_a_row_per_image_and_the_page_asks_the_network_for_nothing()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images"))).Exit);
        string page = HtmlPage.Write(cli);
        var (dom, requests) = Chromium.DumpDom(page, cli.Dir);

        Assert.Empty(requests);
        Assert.Equal("LayerStats report", HtmlPage.Title().Match(dom).Groups[1].Value);

        // The cards, with the figures of sample-data/expected.json: human sizes, exact bytes on hover.
        using var expected = JsonDocument.Parse(File.ReadAllText(TestPaths.Repo("sample-data", "expected.json")));
        var figures = expected.RootElement.GetProperty("summary");
        long F(string name) => figures.GetProperty(name).GetInt64();
        string images = HtmlPage.Between(dom, "card-images", "card-layers");
        Assert.Contains("data-value=\"10\">10</div>", images, StringComparison.Ordinal);
        Assert.Contains("data-value=\"21\">21</div>", HtmlPage.Between(dom, "card-layers", "card-stored"), StringComparison.Ordinal);
        string stored = HtmlPage.Between(dom, "card-stored", "card-savings");
        Assert.Equal(3_779_414, F("unique_compressed_bytes"));
        Assert.Contains("title=\"3,779,414 bytes\" data-value=\"3779414\">3.6 MiB</div>", stored, StringComparison.Ordinal);
        Assert.Equal(7_214_424, F("flat_compressed_bytes"));
        Assert.Contains("<span title=\"7,214,424 bytes\">6.9 MiB</span>", stored, StringComparison.Ordinal);
        Assert.Contains($"data-value=\"{F("layering_savings_compressed_bytes")}\"", HtmlPage.Between(dom, "card-savings", "card-duplicates"), StringComparison.Ordinal);
        Assert.Contains($"data-value=\"{F("file_duplicate_bytes")}\"", HtmlPage.Between(dom, "card-duplicates", "card-hidden"), StringComparison.Ordinal);
        Assert.Contains($"data-value=\"{F("hidden_bytes")}\"", HtmlPage.Between(dom, "card-hidden", "charts"), StringComparison.Ordinal);

        // The charts are drawn (SVG by the page's script), the shared-base tree lists its two bases.
        Assert.Equal(5, HtmlPage.Count(HtmlPage.Between(dom, "charts", "bases"), "<svg"));
        Assert.Equal(2, HtmlPage.Count(HtmlPage.Between(dom, "tree", "images"), "class=\"node\""));

        // One table row per image, each named; the drill-down shows the largest image's layers with their created_by.
        string table = HtmlPage.Between(dom, "table-images", "drill");
        Assert.Equal(10, HtmlPage.Count(table, "<tr class=\"clickable"));
        foreach (string name in new[] { "base:1.0", "base:1.0-zstd", "web:1.0", "worker:1.0", "worker:1.1", "tool:2.0", "hello:1.0" })
        {
            Assert.Contains($"<td>{name}</td>", table, StringComparison.Ordinal);
        }

        string drill = HtmlPage.Between(dom, "drill", "layers");
        Assert.Contains("Layers of web:1.0 (linux/amd64)", drill, StringComparison.Ordinal);
        Assert.Contains("/bin/sh -c apk add --no-cache ca-certificates curl", drill, StringComparison.Ordinal);
        Assert.Equal(5, HtmlPage.Count(drill, "<tr>") - 1);

        string png = Path.Combine(cli.Dir, "shot.png");
        Chromium.Screenshot(page, png, cli.Dir);
        byte[] shot = File.ReadAllBytes(png);
        Assert.Equal("\u0089PNG", System.Text.Encoding.Latin1.GetString(shot, 0, 4));
        Assert.True(shot.Length > 60_000, $"the screenshot is {shot.Length} bytes: a blank page?");
    }

    [Fact]
    public void Hostile_names_from_an_image_render_as_text_and_run_nothing()
    {
        using var cli = new CliHarness();
        // '0first' sorts before the others: the kept copy, so the directory of the ScriptName copy is a duplicate's.
        var layer = new LayerBuilder()
            .File("0first", "same bytes in three places")
            .File(ImgName, "same bytes in three places")
            .File("copy/" + ImgName, "same bytes in three places")
            .File(ScriptName, "same bytes in three places");
        var image = new ImageBuilder().Layer(layer, LayerCompression.Gzip, HostileCommand).Build();
        string archive = Path.Combine(cli.Dir, "hostile.tar");
        ArchiveWriter.OciArchive(archive, OciEntry.Of(image, HostileRef));
        Assert.Equal(0, cli.Scan([archive, .. Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images"))]).Exit);
        Assert.Equal("evil/<b>bold</b>:<b>tag", cli.Query($"SELECT names FROM image_summary WHERE image_id = '{image.ManifestDigest}'").Rows[0][0]);

        string page = HtmlPage.Write(cli);
        var (dom, requests) = Chromium.DumpDom(page, cli.Dir);

        Assert.Empty(requests);
        Assert.Equal("LayerStats report", HtmlPage.Title().Match(dom).Groups[1].Value);
        Assert.DoesNotContain("pwned</title>", dom, StringComparison.Ordinal);
        // No element was made from the data: no img, no b, no script beyond the page's two.
        Assert.DoesNotContain("<img", dom, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>", dom, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(2, HtmlPage.Count(dom, "<script"));
        // The names are there, as text: the image's name in its table row, the paths of the duplicated content,
        // the directory in the chart, the created_by in the layers table.
        Assert.Contains("<td>evil/&lt;b&gt;bold&lt;/b&gt;:&lt;b&gt;tag</td>", HtmlPage.Between(dom, "table-images", "drill"), StringComparison.Ordinal);
        string duplicates = HtmlPage.Between(dom, "table-duplicates", "runs");
        Assert.Contains("<div>&lt;img src=x onerror=document.title='pwned'&gt;</div>", duplicates, StringComparison.Ordinal);
        Assert.Contains("<div>copy/&lt;img src=x onerror=document.title='pwned'&gt;</div>", duplicates, StringComparison.Ordinal);
        Assert.Contains("<div>&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;</div>", duplicates, StringComparison.Ordinal);
        Assert.Contains("&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;", HtmlPage.Between(dom, "chart-dirs", "chart-types"), StringComparison.Ordinal);
        Assert.Contains(
            "&lt;script&gt;document.title='pwned'&lt;/script&gt; RUN make &lt;img src=x onerror=document.title='pwned'&gt;",
            HtmlPage.Between(dom, "table-layers", "shared-layers"),
            StringComparison.Ordinal);
    }

    /// <summary>The request check can fail: a page that loads an image over http shows up in the NetLog.</summary>
    [Fact]
    public void The_network_check_sees_the_request_of_a_page_that_makes_one()
    {
        using var dir = new TempDir();
        string page = dir.File("fetches.html");
        File.WriteAllText(page, "<!DOCTYPE html><html><head><title>t</title></head><body><img src=\"http://example.invalid/pixel.png\"></body></html>");
        var (_, requests) = Chromium.DumpDom(page, dir.Path);
        Assert.Equal(["http://example.invalid/pixel.png"], requests);
    }
}
