// Error pages and the admin home: only the nav bar needs a script.
(function () {
  'use strict';
  window.Livehouse.navUser();
})();
