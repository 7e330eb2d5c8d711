// Live refresh: with "live" ticked, the page's main section is fetched again every 5 seconds and
// swapped in. The pages work without it. Choice kept in sessionStorage.
(function () {
  var box = document.getElementById('live');
  if (!box) return;
  box.checked = sessionStorage.getItem('pgqueue.live') === '1';
  var timer = null;
  function tick() {
    fetch(location.href, {credentials: 'same-origin'}).then(function (r) { return r.text(); }).then(function (t) {
      var doc = new DOMParser().parseFromString(t, 'text/html');
      var fresh = doc.getElementById('main');
      var main = document.getElementById('main');
      if (fresh && main && !main.contains(document.activeElement)) main.replaceWith(fresh);
    }).catch(function () {});
  }
  function set() {
    sessionStorage.setItem('pgqueue.live', box.checked ? '1' : '0');
    if (timer) clearInterval(timer);
    timer = box.checked ? setInterval(tick, 5000) : null;
  }
  box.addEventListener('change', set);
  set();
})();
