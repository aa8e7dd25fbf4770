using System.Text.Json;
using System.Text.RegularExpressions;
using LayerStats.Reports.Html;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Html;

/// <summary>The HTML report as a file: it carries the summary view's figures exactly, and needs nothing from anywhere.</summary>
public sealed class HtmlReportTests
{
    [Fact]
    public void The_page_over_the_samples_carries_the_summary_figures_exactly()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images"))).Exit);
        string html = File.ReadAllText(HtmlPage.Write(cli));
        using var data = JsonDocument.Parse(HtmlPage.DataText(html));

        var summary = cli.Summary();
        var embedded = HtmlPage.Rows(data, "summary").Single();
        Assert.Equal(summary.Keys.Order(StringComparer.Ordinal), embedded.Keys.Order(StringComparer.Ordinal));
        foreach (var (column, value) in summary)
        {
            if (value is double d)
            {
                Assert.Equal(d, embedded[column].GetDouble());
            }
            else
            {
                Assert.Equal(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture), embedded[column].GetInt64());
            }
        }

        // And as sample-data/expected.json (worked out independently of the views) states them.
        using var expected = JsonDocument.Parse(File.ReadAllText(TestPaths.Repo("sample-data", "expected.json")));
        foreach (var figure in expected.RootElement.GetProperty("summary").EnumerateObject())
        {
            Assert.Equal(figure.Value.GetInt64(), embedded[figure.Name].GetInt64());
        }

        Assert.Equal(10L, summary["images"]);
        Assert.Equal(10, HtmlPage.Rows(data, "images").Count);
        Assert.Equal(10, HtmlPage.Section(data, "images").GetProperty("total").GetInt32());

        // The chart of storage levels: flat and stored as the summary says; files deduplicated = stored − file duplicates.
        var levels = HtmlPage.Rows(data, "storage-levels").ToDictionary(r => (r["basis"].GetString(), r["name"].GetString()), r => r["bytes"].GetInt64());
        Assert.Equal((long)summary["flat_compressed_bytes"]!, levels[("compressed", "flat")]);
        Assert.Equal((long)summary["unique_compressed_bytes"]!, levels[("compressed", "layers deduplicated")]);
        Assert.Equal((long)summary["flat_uncompressed_bytes"]!, levels[("uncompressed", "flat")]);
        Assert.Equal((long)summary["unique_uncompressed_bytes"]! - (long)summary["file_duplicate_bytes"]!, levels[("uncompressed", "files deduplicated")]);

        // Every image's drill-down is embedded: its layers, bottom first, as many as the image has.
        var layerCounts = HtmlPage.Rows(data, "image-layers").GroupBy(r => r["image_id"].GetString()).ToDictionary(g => g.Key!, g => g.Count());
        foreach (var image in HtmlPage.Rows(data, "images"))
        {
            Assert.Equal(image["layers"].GetInt32(), layerCounts[image["image_id"].GetString()!]);
        }
    }

    [Fact]
    public void The_page_is_self_contained_declares_a_policy_that_forbids_fetching_and_never_parses_data_as_markup()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images"))).Exit);
        string html = File.ReadAllText(HtmlPage.Write(cli));

        Assert.Contains($"<meta http-equiv=\"Content-Security-Policy\" content=\"{HtmlReport.ContentSecurityPolicy}\">", html, StringComparison.Ordinal);
        Assert.Equal("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:", HtmlReport.ContentSecurityPolicy);

        // Nothing to load: no src/href other than '#anchors' or data:, no stylesheet links, no @import, no url(), no fonts.
        foreach (Match m in Regex.Matches(html, @"\b(src|href|srcset|action|poster|data)\s*=\s*[""']?([^""'\s>]*)", RegexOptions.IgnoreCase))
        {
            string target = m.Groups[2].Value;
            Assert.True(target.StartsWith('#') || target.StartsWith("data:", StringComparison.Ordinal), $"the page refers to '{target}' ({m.Value})");
        }

        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@font-face", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("//cdn", html, StringComparison.OrdinalIgnoreCase);
        // The one http:// string is the SVG namespace name, which is an identifier and never fetched.
        Assert.Equal(["http://www.w3.org/2000/svg"], Regex.Matches(html, @"http://[^'""\s)]*").Select(m => m.Value).ToArray());
        Assert.DoesNotContain("fetch(", html, StringComparison.Ordinal);
        Assert.DoesNotContain("XMLHttpRequest", html, StringComparison.Ordinal);

        // Names from images reach the page as text only: the script has no HTML-parsing sink.
        string script = HtmlPage.Script(html);
        foreach (string sink in new[] { "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createContextualFragment", "DOMParser" })
        {
            Assert.DoesNotContain(sink, script, StringComparison.Ordinal);
        }

        // The data block cannot end early: it holds no '<' (nor '>', '&') at all.
        string dataText = HtmlPage.DataText(html);
        Assert.DoesNotContain('<', dataText);
        Assert.DoesNotContain('>', dataText);
        Assert.DoesNotContain('&', dataText);
        Assert.Equal(2, HtmlPage.Count(html, "<script"));
    }

    [Fact]
    public void Top_caps_every_table_and_the_page_knows_how_many_rows_there_are()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images"))).Exit);
        using var data = JsonDocument.Parse(HtmlPage.DataText(File.ReadAllText(HtmlPage.Write(cli, "top3.html", "--top", "3"))));

        Assert.Equal(3, HtmlPage.Rows(data, "images").Count);
        Assert.Equal(10, HtmlPage.Section(data, "images").GetProperty("total").GetInt32());
        Assert.Equal(3, HtmlPage.Rows(data, "layers").Count);
        Assert.Equal(cli.Scalar("SELECT count(*) FROM layer_refs"), HtmlPage.Section(data, "layers").GetProperty("total").GetInt64());
        Assert.Equal(3, HtmlPage.Rows(data, "duplicates").Count);
        Assert.Equal(cli.Scalar("SELECT count(*) FROM duplicate_files"), HtmlPage.Section(data, "duplicates").GetProperty("total").GetInt64());
        // The capped tables hold the top rows: the three largest images, the three most duplicated contents.
        Assert.Equal(
            cli.Query("SELECT compressed_bytes FROM image_summary ORDER BY compressed_bytes DESC LIMIT 3").Rows.Select(r => (long)r[0]!),
            HtmlPage.Rows(data, "images").Select(r => r["compressed_bytes"].GetInt64()));
        Assert.Equal(
            cli.Query("SELECT duplicate_bytes FROM duplicate_files ORDER BY duplicate_bytes DESC LIMIT 3").Rows.Select(r => (long)r[0]!),
            HtmlPage.Rows(data, "duplicates").Select(r => r["duplicate_bytes"].GetInt64()));
        // Only the embedded images have their layers embedded.
        Assert.Equal(3, HtmlPage.Rows(data, "image-layers").Select(r => r["image_id"].GetString()).Distinct().Count());
    }

    [Fact]
    public void Usage_errors_are_reported_as_such()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(TestPaths.Repo("sample-data", "images", "hello.docker-legacy.tar.gz")).Exit);
        Assert.Equal(2, cli.Run("report", "html", "--db", cli.Database).Exit);
        Assert.Equal(2, cli.Run("report", "html", "--db", cli.Database, "--out", Path.Combine(cli.Dir, "x.html"), "--top", "0").Exit);
        Assert.Equal(4, cli.Run("report", "html", "--db", Path.Combine(cli.Dir, "none.duckdb"), "--out", Path.Combine(cli.Dir, "x.html")).Exit);
        Assert.False(File.Exists(Path.Combine(cli.Dir, "x.html")));
        // The report name may also follow the options.
        Assert.Equal(0, cli.Run("report", "--db", cli.Database, "html", "--out", Path.Combine(cli.Dir, "y.html")).Exit);
        Assert.True(File.Exists(Path.Combine(cli.Dir, "y.html")));
    }
}
