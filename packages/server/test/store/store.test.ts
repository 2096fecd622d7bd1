import { memoryPglite } from '../helpers/databases.js';
import { storeSuite } from './store-suite.js';

storeSuite('PGlite', memoryPglite);
